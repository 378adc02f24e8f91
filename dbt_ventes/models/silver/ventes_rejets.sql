{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['topic', 'partition', 'offset'],
        on_schema_change='fail',
        post_hook="{{ record_bronze_read_until() }}",
    )
}}

{#- Every invalid Bronze record, once, with its Kafka coordinates and why it was rejected. -#}

with

rejected_records as (

    select * from {{ ref('int_ventes__validated') }}
    where
        not is_valid
        {% if is_incremental() -%}
            and {{ ingested_since_last_run(this) }}
        {%- endif %}

),

final as (

    select
        topic,
        partition,
        offset,
        kafka_timestamp,
        ingestion_time,
        value,
        parse_status,
        reasons,
        vente_id

    from rejected_records

)

select * from final

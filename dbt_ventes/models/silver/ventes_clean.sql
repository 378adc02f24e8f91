{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='vente_id',
        on_schema_change='fail',
        post_hook="{{ record_bronze_read_until() }}",
    )
}}

{#-
    One row per valid sale. A run reads only the Bronze rows ingested since the last run, and
    decides each affected sale between those rows and the row already kept: the latest by
    Kafka timestamp, then partition, then offset wins, whatever the order of arrival.
-#}

{%- set sale_columns = [
    'vente_id', 'client_id', 'produit_id', 'event_timestamp', 'heure', 'quantite', 'montant',
    'client_nom', 'produit_nom', 'categorie', 'pays', 'segment',
    'kafka_timestamp', 'partition', 'offset', 'ingestion_time',
] -%}

with

new_records as (

    select
        *,
        date_trunc('HOUR', event_timestamp) as heure

    from {{ ref('int_ventes__validated') }}
    where
        is_valid
        {% if is_incremental() -%}
            and {{ ingested_since_last_run(this) }}
        {%- endif %}

),

{% if is_incremental() %}

    kept_sales as (

        select * from {{ this }}
        where vente_id in (select new_records.vente_id from new_records)

    ),

{% endif %}

candidates as (

    select
        {{ sale_columns | join(',\n        ') }},
        false as is_kept

    from new_records

    {% if is_incremental() %}

        union all

        select
            {{ sale_columns | join(',\n            ') }},
            true as is_kept

        from kept_sales

    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by vente_id
            -- On a tie (a Bronze row read again within the lookback), the kept copy wins,
            -- so the merge leaves it alone.
            order by kafka_timestamp desc, partition desc, offset desc, is_kept desc
        ) as recency_rank

    from candidates

),

final as (

    select
        {{ sale_columns | join(',\n        ') }}

    from ranked
    where recency_rank = 1 and not is_kept

)

select * from final

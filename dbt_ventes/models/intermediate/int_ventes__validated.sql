{#-
    Every Bronze record with its verdict: `is_valid`, or the `reasons` it is rejected for
    (the rules are the macro sale_rejection_reasons).
-#}

with

records as (

    select * from {{ ref('stg_ventes__raw') }}

),

checked as (

    select
        *,
        {{ sale_rejection_reasons() }} as reasons

    from records

),

final as (

    select
        topic,
        partition,
        offset,
        kafka_timestamp,
        kafka_key,
        value,
        ingestion_time,
        ingestion_date,
        parse_status,
        parse_error,
        vente_id,
        client_id,
        produit_id,
        event_timestamp,
        quantite,
        montant,
        client_nom,
        produit_nom,
        categorie,
        pays,
        segment,
        reasons,
        reasons is null as is_valid

    from checked

)

select * from final

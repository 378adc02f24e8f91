with

source as (

    select * from {{ source('bronze', 'ventes_raw') }}

),

renamed as (

    select
        -- Kafka record
        topic,
        partition,
        offset,
        kafka_timestamp,
        key as kafka_key,
        value,

        -- ingestion
        ingestion_time,
        date as ingestion_date,

        -- parsing outcome
        parse_status,
        parse_error,

        -- sale
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
        segment

    from source

)

select * from renamed

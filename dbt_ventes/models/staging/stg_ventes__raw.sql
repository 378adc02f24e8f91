with

source as (

    select * from {{ source('bronze', 'ventes_raw') }}

),

renamed as (

    select
        -- Kafka record
        cast(topic as string) as topic,
        cast(partition as int) as partition,
        cast(offset as bigint) as offset,
        cast(kafka_timestamp as timestamp) as kafka_timestamp,
        cast(key as string) as kafka_key,
        cast(value as string) as value,

        -- ingestion
        cast(ingestion_time as timestamp) as ingestion_time,
        cast(date as date) as ingestion_date,

        -- parsing outcome
        cast(parse_status as string) as parse_status,
        cast(parse_error as string) as parse_error,

        -- sale
        cast(vente_id as bigint) as vente_id,
        cast(client_id as bigint) as client_id,
        cast(produit_id as bigint) as produit_id,
        cast(event_timestamp as timestamp) as event_timestamp,
        cast(quantite as int) as quantite,
        cast(montant as decimal(12, 2)) as montant,
        cast(client_nom as string) as client_nom,
        cast(produit_nom as string) as produit_nom,
        cast(categorie as string) as categorie,
        cast(pays as string) as pays,
        cast(segment as string) as segment

    from source

)

select * from renamed

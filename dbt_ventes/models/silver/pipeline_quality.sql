{#-
    One row of conservation figures for the dashboard: every Bronze record is a valid sale,
    a rejected record, or a duplicate of a sale that a later record replaced. The singular
    test assert_bronze_records_conserved checks these figures against Bronze itself.
-#}

with

bronze as (

    select
        count(*) as bronze_rows,
        max(ingestion_time) as last_ingestion_time

    from {{ source('bronze', 'ventes_raw') }}

),

ventes as (

    select count(*) as valid_sales from {{ ref('ventes_clean') }}

),

rejets as (

    select count(*) as rejected_rows from {{ ref('ventes_rejets') }}

),

final as (

    select
        bronze.bronze_rows,
        ventes.valid_sales,
        rejets.rejected_rows,
        bronze.bronze_rows - ventes.valid_sales - rejets.rejected_rows as duplicates_dropped,
        bronze.last_ingestion_time,
        current_timestamp() as built_at

    from bronze
    cross join ventes
    cross join rejets

)

select * from final

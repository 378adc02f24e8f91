{#-
    Conservation: Bronze records = valid sales + rejected records + duplicates dropped.
    Each figure is recomputed here from Bronze itself (through the validity rules only, without
    any model or the incremental machinery) and compared with what the Silver tables hold.
    Returns a row, and so fails, when anything was lost or counted twice. Its only parent model
    is pipeline_quality, so it runs (and its Airflow task waits) once, after that model.
-#}

with

records as (

    select
        vente_id,
        {{ sale_rejection_reasons() }} is null as is_valid

    from {{ source('bronze', 'ventes_raw') }}

),

quality as (

    select * from {{ ref('pipeline_quality') }}

),

expected as (

    select
        count(*) as bronze_rows,
        count(distinct case when is_valid then vente_id end) as valid_sales,
        count_if(not is_valid) as rejected_rows,
        count_if(is_valid)
        - count(distinct case when is_valid then vente_id end) as duplicates_dropped

    from records

),

final as (

    select
        expected.bronze_rows as expected_bronze_rows,
        quality.bronze_rows,
        expected.valid_sales as expected_valid_sales,
        quality.valid_sales,
        expected.rejected_rows as expected_rejected_rows,
        quality.rejected_rows,
        expected.duplicates_dropped as expected_duplicates_dropped,
        quality.duplicates_dropped

    from expected
    cross join quality
    where
        expected.bronze_rows != quality.bronze_rows
        or expected.valid_sales != quality.valid_sales
        or expected.rejected_rows != quality.rejected_rows
        or expected.duplicates_dropped != quality.duplicates_dropped

)

select * from final

{#-
    Filter for the Bronze rows an incremental model has not seen yet: those ingested after
    the newest row it holds, minus the `bronze_lookback_minutes` margin. Rows seen again are
    merged on the model's key, so the margin costs a little work and never a duplicate.
-#}
{% macro ingested_since_last_run(target) %}
    ingestion_time > (
        select
            coalesce(max(ingestion_time), timestamp '1970-01-01 00:00:00')
            - interval {{ var('bronze_lookback_minutes') | int }} minutes
        from {{ target }}
    )
{% endmacro %}

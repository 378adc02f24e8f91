{#-
    Incremental reading of Bronze (for `ventes_clean` and `ventes_rejets`).

    After each run, the post-hook `record_bronze_read_until` stores in the target's Delta
    table properties the newest Bronze ingestion time there was. The next run reads only the
    Bronze rows ingested after it, minus the `bronze_lookback_minutes` margin (for micro-batches
    that commit out of order, or during the previous run): rows read again are merged on the
    model's key, so the margin costs a little work and never a duplicate. The bound is a literal,
    so Spark prunes Bronze's date partitions: a run reads the last day's files, not the history.

    The mark comes from Bronze, not from the model's rows: a model that got no row for a while
    (no invalid record, say) would otherwise read everything since its newest row again.

    Without the mark (unit tests, where `this` is given as rows), the bound is the newest
    `ingestion_time` the model holds.
-#}

{% macro ingested_since_last_run(target) %}
    {%- set lookback = var('bronze_lookback_minutes') | int -%}
    {%- set read_until = bronze_read_until(target) -%}
    {%- if read_until is not none -%}
        ingestion_time > timestamp {{ sql_string(read_until) }} - interval {{ lookback }} minutes
        and ingestion_date >= to_date(timestamp {{ sql_string(read_until) }} - interval {{ lookback }} minutes)
    {%- else -%}
        ingestion_time > (
            select
                coalesce(max(ingestion_time), timestamp '1970-01-01 00:00:00')
                - interval {{ lookback }} minutes
            from {{ target }}
        )
    {%- endif -%}
{% endmacro %}


{% macro bronze_read_until_property() %}
    {{- return('ventes.bronze_read_until') -}}
{% endmacro %}


{#- The mark stored on a real table, or none (unit tests, parsing, a table built before). -#}
{% macro bronze_read_until(target) %}
    {%- if not execute or model.resource_type != 'model' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        "show tblproperties " ~ target ~ " ('" ~ bronze_read_until_property() ~ "')"
    ) -%}
    {%- set value = found.rows[0][1] if found.rows | length > 0 else none -%}
    {%- if value is none or 'does not have property' in value -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(checked_bronze_mark(value, target)) }}
{% endmacro %}


{#-
    The mark as read back, if it is what `record_bronze_read_until` writes (Spark's text of a
    timestamp: `2025-03-02 23:59:59.123456`), else none with a warning: a mark edited by hand
    must never reach the SQL, and without one the model starts from its own newest row.
-#}
{% macro checked_bronze_mark(value, target) %}
    {%- set shape = '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?' -%}
    {%- if modules.re.fullmatch(shape, value | string) is none -%}
        {% do exceptions.warn(
            target ~ ": ignoring table property " ~ bronze_read_until_property() ~ " = "
            ~ (value | string)[:80] ~ " (not a timestamp like 2025-03-02 23:59:59.123456);"
            ~ " reading Bronze from the table's newest ingestion_time instead"
        ) %}
        {{ return(none) }}
    {%- endif -%}
    {{ return(value | string) }}
{% endmacro %}


{#- Post-hook: remember the newest Bronze ingestion time, for the next run to start from. -#}
{% macro record_bronze_read_until() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set latest = run_query(
        'select cast(max(ingestion_time) as string) from ' ~ source('bronze', 'ventes_raw')
    ).columns[0].values()[0] -%}
    {%- if latest is not none -%}
        alter table {{ this }} set tblproperties ({{ sql_string(bronze_read_until_property()) }} = {{ sql_string(latest) }})
    {%- endif -%}
{% endmacro %}

{#-
    A Spark SQL string literal that holds `text` exactly, whatever it holds: backslashes and
    single quotes are escaped (Spark reads '\\' and '\'' inside a quoted string). For values
    from outside the SQL: DELTA_ROOT, which may hold a quote, and marks read back from tables.
-#}
{% macro sql_string(text) -%}
    '{{ text | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}


{#-
    dbt-spark's `location` clause of the Silver tables, with the path as an escaped literal
    (dbt-spark pastes `location_root`, which comes from DELTA_ROOT, between quotes as is).
-#}
{% macro spark__location_clause() %}
    {%- set location_root = config.get('location_root') -%}
    {%- if location_root is not none %}
    location {{ sql_string(location_root ~ '/' ~ model['alias']) }}
    {%- endif %}
{%- endmacro %}

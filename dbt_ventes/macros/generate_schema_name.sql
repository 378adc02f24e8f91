{#-
    Schemas are named as configured (staging, silver), not prefixed with the target schema:
    the lake layout and the dashboard rely on the names `bronze` and `silver`.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{#-
    Registers the Bronze Delta table, which the ingestion job writes by path, as the external
    table bronze.ventes_raw in the Thrift server's metastore (run by on-run-start).

    The column list comes from the source's YAML, so registration doubles as a contract check:
    Delta refuses to register an existing table whose schema or partitioning differs.  On an
    empty lake it creates the empty Bronze table with that schema, which the ingestion job then
    appends to.

    When the lake moved (DELTA_ROOT changed since the last run), the registered tables point at
    the old place: Bronze and every Silver table are dropped from the metastore (external
    tables: their files stay) and registered again where DELTA_ROOT now says.
-#}
{% macro register_bronze_source() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}

    {%- set bronze = graph.sources['source.dbt_ventes.bronze.ventes_raw'] -%}
    {%- set location = bronze_location() -%}
    {% do run_query('create schema if not exists ' ~ bronze.schema) %}
    {%- set registered = registered_location(bronze.schema, bronze.identifier) -%}

    {%- if registered is not none and registered != location -%}
        {{ log('The lake moved from ' ~ registered ~ ' to ' ~ location
               ~ ': registering Bronze and Silver again', info=true) }}
        {% do drop_registered_table(bronze.schema, bronze.identifier) %}
        {% do drop_silver_tables() %}
    {%- endif -%}

    {%- set columns = [] -%}
    {%- for column in bronze.columns.values() -%}
        {%- do columns.append(adapter.quote(column.name) ~ ' ' ~ column.data_type) -%}
    {%- endfor -%}

    {% call statement('register_bronze') %}
        create table if not exists {{ bronze.schema }}.{{ bronze.identifier }} (
            {{ columns | join(',\n            ') }}
        )
        using delta
        partitioned by (`date`)
        location {{ sql_string(location) }}
    {% endcall %}
{% endmacro %}


{% macro bronze_location() %}
    {{- return(env_var('DELTA_ROOT') ~ '/bronze/ventes_raw') -}}
{% endmacro %}


{#- The location the metastore holds for a table (without the file: scheme), or none. -#}
{% macro registered_location(schema, identifier) %}
    {%- set found = run_query("show table extended in " ~ schema ~ " like '" ~ identifier ~ "'") -%}
    {%- if found is none or found.rows | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for line in found.rows[0][3].split('\n') -%}
        {%- if line.startswith('Location: ') -%}
            {{ return(line[10:] | replace('file://', '') | replace('file:', '')) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{% macro drop_silver_tables() %}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.config.get('location_root') -%}
            {% do drop_registered_table(node.schema, node.alias) %}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}


{#- Through the adapter, so dbt's relation cache (filled before on-run-start) forgets it too. -#}
{% macro drop_registered_table(schema, identifier) %}
    {% do adapter.drop_relation(api.Relation.create(schema=schema, identifier=identifier, type='table')) %}
{% endmacro %}

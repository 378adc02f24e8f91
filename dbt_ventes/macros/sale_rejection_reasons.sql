{#-
    The validity rules of a sale, as one expression over a relation with Bronze's column names
    (Bronze itself, or the staging model): null for a valid sale, else why the record is
    rejected. A record is a valid sale when it parsed as a JSON object and every required field
    is present and of its type, with montant >= 0 and quantite > 0. Records that did not parse
    get the parser's reason only: their fields are all null, so listing each missing field would
    bury the real cause.

    Written once, used by int_ventes__validated and by the conservation test, which recomputes
    the figures from Bronze without going through any model.
-#}
{% macro sale_rejection_reasons() %}
    coalesce(
        case
            when parse_status is null then 'parse_status: missing'
            when parse_status != 'ok'
                then concat(parse_status, coalesce(concat(': ', parse_error), ''))
        end,
        nullif(concat_ws(
            '; ',
            case when vente_id is null then 'vente_id: missing or not a long' end,
            case when client_id is null then 'client_id: missing or not a long' end,
            case when produit_id is null then 'produit_id: missing or not a long' end,
            case when produit_nom is null then 'produit_nom: missing or not a string' end,
            case when pays is null then 'pays: missing or not a string' end,
            case when segment is null then 'segment: missing or not a string' end,
            case
                when event_timestamp is null
                    then 'timestamp: missing or not an ISO-8601 time'
            end,
            case when quantite is null then 'quantite: missing or not an int' end,
            case when quantite <= 0 then 'quantite: not positive' end,
            case when montant is null then 'montant: missing or not a number' end,
            case when montant < 0 then 'montant: negative' end
        ), '')
    )
{%- endmacro %}

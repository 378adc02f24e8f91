{#-
    The aggregates are rebuilt in full from ventes_clean on every run: it holds one small row
    per sale, so a rebuild is cheap, and a late or replaced sale can never leave a stale total.
-#}

with

ventes as (

    select * from {{ ref('ventes_clean') }}

),

final as (

    select
        produit_nom,
        pays,
        cast(sum(montant) as decimal(18, 2)) as total_montant,
        cast(sum(quantite) as bigint) as total_quantite

    from ventes
    group by produit_nom, pays

)

select * from final

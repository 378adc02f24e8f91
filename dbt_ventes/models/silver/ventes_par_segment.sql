with

ventes as (

    select * from {{ ref('ventes_clean') }}

),

final as (

    select
        produit_nom as produit,
        segment,
        cast(sum(montant) as decimal(18, 2)) as montant

    from ventes
    group by produit_nom, segment

)

select * from final

with

ventes as (

    select * from {{ ref('ventes_clean') }}

),

final as (

    select
        heure,
        cast(sum(montant) as decimal(18, 2)) as total_montant,
        cast(sum(quantite) as bigint) as total_quantite

    from ventes
    group by heure

)

select * from final

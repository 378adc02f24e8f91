with

ventes as (

    select * from {{ ref('ventes_clean') }}

),

par_produit as (

    select
        produit_nom,
        cast(sum(montant) as decimal(18, 2)) as total_montant

    from ventes
    group by produit_nom

),

ranked as (

    select
        cast(
            row_number() over (order by total_montant desc, produit_nom asc) as int
        ) as rank,
        produit_nom,
        total_montant

    from par_produit

),

final as (

    select
        rank,
        produit_nom,
        total_montant

    from ranked
    where rank <= 10

)

select * from final

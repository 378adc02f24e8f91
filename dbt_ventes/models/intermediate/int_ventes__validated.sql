{#-
    Every Bronze record with its verdict: `is_valid`, or the `reasons` it is rejected for
    (the rules are the macro sale_rejection_reasons).
-#}

with

records as (

    select * from {{ ref('stg_bronze__ventes') }}

),

checked as (

    select
        *,
        {{ sale_rejection_reasons() }} as reasons

    from records

),

final as (

    -- The staging model's columns, then the verdict: its columns are listed once, there.
    select
        *,
        reasons is null as is_valid

    from checked

)

select * from final  -- noqa: AM04

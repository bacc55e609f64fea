-- The 20 largest rises in meldingen from one year to the next, per gemeente.
SELECT region_code, year, meldingen,
       meldingen - LAG(meldingen) OVER (PARTITION BY region_code ORDER BY year) AS change
FROM (
    SELECT region_code, year, sum(ontvangen_meldingen) AS meldingen
    FROM veilig_thuis
    WHERE region_level = 'gemeente' AND category = 'Totaal'
    GROUP BY region_code, year
) t
ORDER BY change DESC NULLS LAST, region_code, year
LIMIT 20;

-- Each kind of violence's share of a gemeente's meldingen over all years.
SELECT v.region_code, v.category,
       round(CAST(sum(v.ontvangen_meldingen) AS DOUBLE) / max(t.total), 6) AS share
FROM veilig_thuis v
JOIN (
    SELECT region_code, sum(ontvangen_meldingen) AS total
    FROM veilig_thuis
    WHERE region_level = 'gemeente' AND category = 'Totaal'
    GROUP BY region_code
) t ON t.region_code = v.region_code
WHERE v.region_level = 'gemeente' AND v.category <> 'Totaal'
GROUP BY v.region_code, v.category
ORDER BY v.region_code, v.category;

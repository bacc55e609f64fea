-- The 20 gemeente-years with the most meldingen per 100,000 inhabitants.
SELECT v.region_code, v.year,
       round(CASE WHEN max(p.population) > 0
                  THEN CAST(sum(v.ontvangen_meldingen) AS DOUBLE) * 100000 / max(p.population) END, 6)
           AS meldingen_per_100k
FROM veilig_thuis v
JOIN population p ON p.region_code = v.region_code AND p.year = v.year
WHERE v.region_level = 'gemeente' AND v.category = 'Totaal'
GROUP BY v.region_code, v.year
ORDER BY meldingen_per_100k DESC NULLS LAST, v.region_code, v.year
LIMIT 20;

-- Rolling sum over four half-years per gemeente and kind; the 20 highest, with their suppression interval.
SELECT region_code, category, period, s['value'] AS meldingen, s['low'] AS low, s['high'] AS high
FROM (
    SELECT region_code, category, period,
           ssum(ontvangen_meldingen) OVER (PARTITION BY region_code, category ORDER BY period
                                           ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS s
    FROM veilig_thuis
    WHERE region_level = 'gemeente'
) t
ORDER BY meldingen DESC NULLS LAST, region_code, category, period
LIMIT 20;

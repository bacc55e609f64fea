-- Rolling sum over four half-years per gemeente and kind; the 20 highest, with their suppression interval.
SELECT region_code, category, period, meldingen, low, high
FROM (
    SELECT region_code, category, period,
           sum(ontvangen_meldingen) OVER w AS meldingen,
           coalesce(sum(ontvangen_meldingen - 2) OVER w, 0) AS low,
           coalesce(sum(ontvangen_meldingen + 2) OVER w, 0)
               + 7 * (count(*) OVER w - count(ontvangen_meldingen) OVER w) AS high
    FROM veilig_thuis
    WHERE region_level = 'gemeente'
    WINDOW w AS (PARTITION BY region_code, category ORDER BY period ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)
) t
ORDER BY meldingen DESC NULLS LAST, region_code, category, period
LIMIT 20;

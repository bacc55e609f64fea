-- Kindermishandeling per VT-regio and half-year from its gemeenten (each in the VT-regio it belonged to that
-- year), with the interval the hidden cells allow (published cells are rounded to 5: v-2..v+2; hidden cells are
-- 0..7).
SELECT m.vt_regio_code, v.period,
       sum(v.ontvangen_meldingen) AS meldingen,
       coalesce(sum(v.ontvangen_meldingen - 2), 0) AS low,
       coalesce(sum(v.ontvangen_meldingen + 2), 0) + 7 * (count(*) - count(v.ontvangen_meldingen)) AS high,
       count(*) - count(v.ontvangen_meldingen) AS suppressed
FROM veilig_thuis v
JOIN region_membership m ON m.gm_code = v.region_code AND m.year = v.year
WHERE v.region_level = 'gemeente' AND v.category = 'Kindermishandeling'
GROUP BY m.vt_regio_code, v.period
ORDER BY m.vt_regio_code, v.period;

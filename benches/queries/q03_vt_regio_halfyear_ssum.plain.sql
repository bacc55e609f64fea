-- Kindermishandeling per VT-regio and half-year from its gemeenten, with the interval the hidden cells allow
-- (published cells are rounded to 5: v-2..v+2; hidden cells are 0..7).
SELECT r.vt_regio_code, v.period,
       sum(v.ontvangen_meldingen) AS meldingen,
       coalesce(sum(v.ontvangen_meldingen - 2), 0) AS low,
       coalesce(sum(v.ontvangen_meldingen + 2), 0) + 7 * (count(*) - count(v.ontvangen_meldingen)) AS high,
       count(*) - count(v.ontvangen_meldingen) AS suppressed
FROM veilig_thuis v
JOIN regions r ON r.region_code = v.region_code
WHERE v.region_level = 'gemeente' AND v.category = 'Kindermishandeling'
GROUP BY r.vt_regio_code, v.period
ORDER BY r.vt_regio_code, v.period;

-- Kindermishandeling per VT-regio and half-year from its gemeenten (each in the VT-regio it belonged to that
-- year), with the interval the hidden cells allow.
SELECT vt_regio_code, period, s['value'] AS meldingen, s['low'] AS low, s['high'] AS high,
       s['suppressed'] AS suppressed
FROM (
    SELECT m.vt_regio_code, v.period, ssum(v.ontvangen_meldingen) AS s
    FROM veilig_thuis v
    JOIN region_membership m ON m.gm_code = v.region_code AND m.year = v.year
    WHERE v.region_level = 'gemeente' AND v.category = 'Kindermishandeling'
    GROUP BY m.vt_regio_code, v.period
) t
ORDER BY vt_regio_code, period;

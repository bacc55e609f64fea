-- Kindermishandeling per VT-regio and half-year from its gemeenten, with the interval the hidden cells allow.
SELECT vt_regio_code, period, s['value'] AS meldingen, s['low'] AS low, s['high'] AS high,
       s['suppressed'] AS suppressed
FROM (
    SELECT r.vt_regio_code, v.period, ssum(v.ontvangen_meldingen) AS s
    FROM veilig_thuis v
    JOIN regions r ON r.region_code = v.region_code
    WHERE v.region_level = 'gemeente' AND v.category = 'Kindermishandeling'
    GROUP BY r.vt_regio_code, v.period
) t
ORDER BY vt_regio_code, period;

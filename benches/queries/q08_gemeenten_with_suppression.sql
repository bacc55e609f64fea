-- How many gemeenten have at least one suppressed cell, per half-year.
SELECT period, count(DISTINCT region_code) AS gemeenten
FROM veilig_thuis
WHERE region_level = 'gemeente' AND suppressed_cells > 0
GROUP BY period
ORDER BY period;

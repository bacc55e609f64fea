-- Stalking by partners in 2019-2021, per half-year and region level (reads three years' files only).
SELECT period, region_level, count(*) AS regions, sum(ontvangen_meldingen) AS meldingen,
       sum(afgeronde_onderzoeken) AS onderzoeken
FROM veilig_thuis
WHERE year BETWEEN 2019 AND 2021 AND category = 'Partnergeweld: stalking'
GROUP BY period, region_level
ORDER BY period, region_level;

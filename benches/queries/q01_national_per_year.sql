-- National meldingen and adviezen per year, summed over the gemeenten (a check against NL01).
SELECT year, sum(ontvangen_meldingen) AS meldingen, sum(gestarte_adviezen) AS adviezen
FROM veilig_thuis
WHERE region_level = 'gemeente' AND category = 'Totaal'
GROUP BY year
ORDER BY year;

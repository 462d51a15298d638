"""How complaints arrive: foreman QR codes, triage, the submission service and the complainant's own
views of their cases."""

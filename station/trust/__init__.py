"""Proving a card genuine: passive authentication (EF.SOD, CSCA trust store, CRLs, master
lists), explicit-curve mapping, and the verdict recorded check by check."""

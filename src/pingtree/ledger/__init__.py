"""The ledger: every sale, payout, return, clawback, credit, payment and adjustment as an
append-only double-entry row in exact money; balances per buyer and publisher."""

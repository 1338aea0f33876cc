"""Returns: a buyer returns a lead it bought, within a window, with a reason; rules or an
operator decide; an approved return reverses the sale in the ledger."""

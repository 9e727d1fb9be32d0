"""UI-free survey engine: targets, scheduler, records, store, stats, report. No Textual here."""

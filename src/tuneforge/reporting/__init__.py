"""Reading run and sweep folders back: tables, plots and summaries; nothing of training."""

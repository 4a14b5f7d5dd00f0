"""Demand forecasts and the reorder policies proposed from them (issue 16).

`history` turns consumption (a CSV or the ledger's own movements) into daily series,
`forecast` picks a method per series by a rolling backtest and forecasts it, `policy` turns a
forecast, its error and a supplier's measured lead time into a reorder point and an order-up-to
level. Nothing here changes stock levels: a person accepts or edits each proposal.
"""

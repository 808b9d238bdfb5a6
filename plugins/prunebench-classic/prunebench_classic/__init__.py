"""The field's reference criteria, as a third party would ship them."""

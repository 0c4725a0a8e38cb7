"""attention: attention mechanisms built only from minigrad ops, following the lecture notes."""

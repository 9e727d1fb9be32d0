"""UI-free async checks. Nothing under this package may import Textual."""

"""Files written whole (atomic), locks, and the outputs a command claims before it writes them."""

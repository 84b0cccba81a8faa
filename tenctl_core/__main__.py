"""``python -m tenctl_core`` runs the tenctl command line."""

from tenctl_core.cli import main

if __name__ == "__main__":
    main()

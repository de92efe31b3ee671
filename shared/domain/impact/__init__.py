"""What removing a model would break or free: styles, sole-serving workers, disk, text families."""

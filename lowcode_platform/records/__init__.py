"""Records of tenant entities: validated writes with audit, scoped reads, filtered and paged lists."""

"""dealx eval: load run + gold -> align -> score -> tables and reports."""

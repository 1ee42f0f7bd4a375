"""Data for the course: sparse feature batches with known ground truth, and the text corpus."""

"""Datasets: the catalog, downloads, the tf.data pipeline and augmentation."""

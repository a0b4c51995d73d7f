//! Training data: 2-D toy sets (FFJORD's `toy_data.py` shapes) and mixture samples.
//! MNIST and Fashion-MNIST readers arrive with the image models.

pub mod toy;

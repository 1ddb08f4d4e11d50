"""Packaging for wbsr_basicsr.

Install order matters because basicsr 1.4.2 imports torch in its setup.py: install torch and
torchvision first, then ``basicsr`` with ``--no-build-isolation``, then this package
(``pip install -e .[export]`` adds what subnet export needs). ``make setup``
(scripts/setup_env.sh) does all of it from the pinned requirements.txt.
"""
from setuptools import find_packages, setup

EXPORT = ['onnx>=1.16', 'onnxscript>=0.2', 'onnxruntime>=1.18', 'safetensors>=0.4']

setup(
    name='wbsr_basicsr',
    version='0.1.0',
    description='WBSR (NeurIPS 2024) weight-balancing super-resolution as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    author='The wbsr_basicsr developers',
    license='Apache-2.0',
    license_files=['LICENSE'],
    keywords='super-resolution, BasicSR, dynamic inference, WBSR',
    classifiers=['Programming Language :: Python :: 3',
                 'Topic :: Scientific/Engineering :: Image Processing'],
    packages=find_packages(include=['wbsr_basicsr', 'wbsr_basicsr.*', 'wbsr_cli', 'wbsr_cli.*']),
    package_data={'wbsr_basicsr.zoo': ['weights/*.pth', 'weights/*.json']},
    python_requires='>=3.9',
    entry_points={'console_scripts': [
        'wbsr-infer = wbsr_cli.infer:main',
        'wbsr-export = wbsr_cli.export:main',
        'wbsr-calibrate = wbsr_cli.calibrate:main',
        'wbsr-plot-frontier = wbsr_cli.plot_frontier:main',
        'wbsr-train = wbsr_cli.pipelines:train',
        'wbsr-test = wbsr_cli.pipelines:test',
        'wbsr-prepare-div2k = wbsr_cli.prepare:div2k',
        'wbsr-prepare-benchmarks = wbsr_cli.prepare:benchmarks',
    ]},
    install_requires=[
        'basicsr>=1.4.2,<1.5',
        'torch>=2.1',
        'torchvision>=0.16',
        'numpy>=1.22',
        'opencv-python-headless>=4.5',
        'lmdb>=1.0',
        'pyyaml>=5.4',
        'scikit-image>=0.19',
        'scikit-learn>=1.1',
        'scipy>=1.8',
        'tensorboard>=2.10',
        'tqdm>=4.60',
    ],
    extras_require={'export': EXPORT, 'all': EXPORT + ['matplotlib>=3.5']},
)

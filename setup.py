"""Packaging for wbsr_basicsr.

Install order matters because basicsr 1.4.2 imports torch in its setup.py: install torch and
torchvision first, then ``basicsr`` with ``--no-build-isolation``, then this package.
``make setup`` (scripts/setup_env.sh) does all of it from the pinned requirements.txt.
"""
from setuptools import find_packages, setup

setup(
    name='wbsr_basicsr',
    version='0.1.0',
    description='WBSR (NeurIPS 2024) weight-balancing super-resolution as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['wbsr_basicsr', 'wbsr_basicsr.*']),
    python_requires='>=3.9',
    entry_points={'console_scripts': [
        'wbsr-infer = wbsr_basicsr.cli.inference:main',
        'wbsr-calibrate = wbsr_basicsr.cli.calibrate:main',
        'wbsr-export = wbsr_basicsr.cli.export:main',
        'wbsr-plot-frontier = wbsr_basicsr.cli.plot_frontier:main',
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
)

document.getElementById('app').textContent = 'certinext';
